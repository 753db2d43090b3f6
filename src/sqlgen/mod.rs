//! Renders the Snowflake side (`sql/`) for a configuration.
