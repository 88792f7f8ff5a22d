{#- Generic test for an append-only model (int_identity_edges): each key the last build wrote
    occurs once in the whole table. Appended rows can collide with the stored ones, so scoping a
    plain `unique` to the rows written would miss a duplicate; grouping the whole table instead
    grew with the history. The keys written are found from the model's record
    (macros/rows_written_by_the_run.sql); with no record, every key is checked. -#}
{% test unique_written_keys(model, column_name) %}
select {{ column_name }}, count(*) as occurrences
from {{ model }}
where {{ column_name }} in (
    select {{ column_name }} from {{ model }} where {{ rows_written_where(model) }}
)
group by {{ column_name }}
having count(*) > 1
{% endtest %}
