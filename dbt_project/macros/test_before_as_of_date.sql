{#- Generic test: a column holds no value on or after the row's as-of date (point in time). -#}
{% test before_as_of_date(model, column_name, as_of_column='as_of_date') %}
select *
from {{ model }}
where {{ column_name }} >= {{ as_of_column }}
{% endtest %}
