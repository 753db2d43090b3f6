-- The dashboard: a Streamlit in Snowflake app over the audit trail and the
-- report views (streamlit/ in the repository; README: "Dashboard").
-- Its files reach the stage by PUT, which SnowSQL and Snowflake CLI run from
-- the repository's root (`snow sql -f setup.sql`); a worksheet cannot PUT:
-- upload streamlit/*.py and streamlit/environment.yml to the stage in
-- Snowsight instead, then run the CREATE STREAMLIT below again (FROM copies
-- the stage's files when the app is created).
create stage if not exists {{database}}.{{schema}}.syspro_dashboard_stage
    directory = (enable = true)
    comment = 'ml-connector: the files of the syspro_dashboard Streamlit app';

put 'file://streamlit/*.py' @{{database}}.{{schema}}.syspro_dashboard_stage
    auto_compress = false overwrite = true;
put 'file://streamlit/environment.yml' @{{database}}.{{schema}}.syspro_dashboard_stage
    auto_compress = false overwrite = true;

-- runs with the owner role's rights; readers need only USAGE on it
create or replace streamlit {{database}}.{{schema}}.syspro_dashboard
    from '@{{database}}.{{schema}}.syspro_dashboard_stage'
    main_file = 'streamlit_app.py'
    query_warehouse = {{warehouse}}
    title = 'SYSPRO sync health and finance'
    comment = 'ml-connector: sync health, reconciliation drift, AP aging, spend and stock';

grant usage on streamlit {{database}}.{{schema}}.syspro_dashboard to role {{reader_role}};
