-- Run as ACCOUNTADMIN (or a role holding MANAGE GRANTS) after the objects
-- above exist. The owner role creates everything after the API integration.
-- the owner role hangs under SYSADMIN like every custom role should, and the
-- user running this script gets it so the rest of the script can `use` it
grant role {{owner_role}} to role sysadmin;
-- The user name goes into IDENTIFIER() double-quoted: SSO/SCIM users are often
-- e-mail style (lower case, dots, @), which are not valid unquoted identifiers,
-- and a quoted identifier matches the stored name exactly. Embedded double
-- quotes are doubled. https://docs.snowflake.com/en/sql-reference/identifier-literal
set setup_user = (select '"' || replace(current_user(), '"', '""') || '"');
grant role {{owner_role}} to user identifier($setup_user);
grant role {{reader_role}} to role {{owner_role}};
grant usage on warehouse {{warehouse}} to role {{owner_role}};
grant usage on database {{database}} to role {{owner_role}};
grant all privileges on schema {{database}}.{{schema}} to role {{owner_role}};
-- tasks run as their owner; serverless tasks would also need EXECUTE MANAGED TASK
grant execute task on account to role {{owner_role}};

grant usage on warehouse {{warehouse}} to role {{reader_role}};
grant usage on database {{database}} to role {{reader_role}};
grant usage on schema {{database}}.{{schema}} to role {{reader_role}};
grant select on future tables in schema {{database}}.{{schema}} to role {{reader_role}};
grant select on future views in schema {{database}}.{{schema}} to role {{reader_role}};
