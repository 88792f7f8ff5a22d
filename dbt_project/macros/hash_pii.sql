{#- Personal identifiers are joined on a salted sha256 of their normalised value, never on the value.
    The salt comes from PII_HASH_SALT; the default only suits the sample data. -#}
{% macro hash_pii(expression) -%}
    case when {{ expression }} is not null
        then sha256('{{ env_var("PII_HASH_SALT", "customer-segments-sample-salt") }}' || {{ expression }})
    end
{%- endmacro %}
