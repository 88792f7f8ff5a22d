{#- A phone number in any format as its digits only, international prefix (+ or 00) dropped,
    and a national trunk 0 replaced by the default country code, so +44 7700 900123,
    0044 7700 900123 and 07700 900123 are one number. Fewer than 6 digits is not a phone number. -#}
{% macro normalise_phone(raw_expression) -%}
    {#- a national trunk written as (0) after the country code is not dialled -#}
    {%- set expression = "replace(" ~ raw_expression ~ ", '(0)', '')" -%}
    nullif(
        case
            when length(regexp_replace({{ expression }}, '[^0-9]', '', 'g')) < 6 then ''
            when regexp_matches(trim({{ expression }}), '^(\+|00)')
                then regexp_replace(regexp_replace({{ expression }}, '[^0-9]', '', 'g'), '^00', '')
            when regexp_matches(regexp_replace({{ expression }}, '[^0-9]', '', 'g'), '^0[1-9]')
                then '{{ var("phone_default_country_code") }}'
                    || regexp_replace(regexp_replace({{ expression }}, '[^0-9]', '', 'g'), '^0', '')
            else regexp_replace({{ expression }}, '[^0-9]', '', 'g')
        end,
        ''
    )
{%- endmacro %}
