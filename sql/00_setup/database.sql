create database if not exists {{database}}
    comment = 'ml-connector: SYSPRO data kept in sync by external functions';
