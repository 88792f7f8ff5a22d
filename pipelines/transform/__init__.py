"""The dbt stage: staging, identity resolution, marts and point-in-time features (dbt_project/)."""
