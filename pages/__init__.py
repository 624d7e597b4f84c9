"""Streamlit pages of the textclf app (views only; the logic lives in textclf_core)."""
