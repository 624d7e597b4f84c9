"""textclf web app (placeholder until the pages land)."""
import streamlit as st

st.set_page_config(page_title="textclf", layout="wide")
st.title("textclf")
st.write("Upload a spreadsheet of texts and labels to train a classifier.")
