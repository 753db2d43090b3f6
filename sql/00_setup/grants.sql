-- Run as ACCOUNTADMIN (or a role holding MANAGE GRANTS) after the objects
-- above exist. The owner role creates everything from 10_integration on.
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
