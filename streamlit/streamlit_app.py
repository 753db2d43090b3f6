"""ml-connector's dashboard: sync health, reconciliation drift and the finance reports.

Runs in Snowflake (CREATE STREAMLIT ... MAIN_FILE = 'streamlit_app.py', see sql/95_dashboard/)
and locally on demo data (scripts/dashboard.sh). All data goes through dashboard_data.py.
"""

import streamlit as st

import dashboard_pages as pages

st.set_page_config(page_title="SYSPRO sync and finance", layout="wide")

navigation = st.navigation(
    [
        st.Page(pages.health_page, title="Health", default=True),  # the root URL
        st.Page(pages.reconciliation_page, title="Reconciliation", url_path="reconciliation"),
        st.Page(pages.finance_page, title="Finance", url_path="finance"),
    ]
)
navigation.run()
