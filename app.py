"""Streamlit front end: `streamlit run app.py`. Layout only; the logic lives in resnet_inspect."""

import streamlit as st

import resnet_inspect as ri
from resnet_inspect.views.tables import headline, stage_rows

st.set_page_config(page_title="resnet-inspect", layout="wide")
names = list(ri.variants())
name = st.sidebar.selectbox("Variant", names, index=names.index("resnet50"))
st.sidebar.caption(ri.get_variant(name).description)


@st.cache_data(show_spinner="Running the forward pass...")
def analyze(variant: str) -> dict:
    return ri.inspect(variant, device="meta").to_dict()


report = ri.ModelReport.from_dict(analyze(name))
st.title(name)
for key, value in headline(report).items():
    st.markdown(f"**{key}**: {value}")
st.subheader("Stages")
st.dataframe(stage_rows(report), hide_index=True)
