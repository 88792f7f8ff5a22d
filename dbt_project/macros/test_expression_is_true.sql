{#- Generic test: every row satisfies a boolean SQL expression (nulls pass; not_null covers them). -#}
{% test expression_is_true(model, column_name, expression) %}
select *
from {{ model }}
where not ({{ column_name }} {{ expression }})
{% endtest %}
