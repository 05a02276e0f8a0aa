{#
  Self-disclosed gender and age, only where authors state them about themselves:
  "I (24F)", "me [31M]", "(F19)" at the start of a line, "I'm a 28 year old woman".
  Never guessed from names. A tag not tied to "I"/"me" or a line start ("my mom (52F)")
  describes someone else and is ignored.
#}
{# Patterns are SQL string literals: a quote inside is doubled. #}
{% macro _disclosure_patterns() %}
    {% set first_person = "(?:^|\\n|\\b(?:i|me|i[''’]?m|i am|myself)\\s*)" %}
    {{ return([
        (first_person ~ "[\\(\\[]\\s*(\\d{2})\\s*,?\\s*(f|m|nb)\\s*[\\)\\]]", 1, 2),
        (first_person ~ "[\\(\\[]\\s*(f|m|nb)\\s*,?\\s*(\\d{2})\\s*[\\)\\]]", 2, 1),
        ("\\bi(?:[''’]?m| am)\\s+an?\\s+(\\d{2})[\\s-]*(?:years?[\\s-]*old|yo|y/o)\\s+(woman|man|girl|guy|female|male|lady|non-?binary)", 1, 2),
    ]) }}
{% endmacro %}

{# part: 1 = age group, 2 = gender group; the first pattern that matches wins. #}
{% macro _disclosed_part(text, part) -%}
    coalesce(
    {%- for pattern, age_group, gender_group in _disclosure_patterns() %}
        nullif(regexp_extract(lower({{ text }}), '{{ pattern }}', {{ age_group if part == 1 else gender_group }}), '')
        {{- "," if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}

{% macro self_disclosed_gender(text) -%}
    case {{ _disclosed_part(text, 2) }}
        when 'f' then 'female' when 'woman' then 'female' when 'girl' then 'female'
        when 'female' then 'female' when 'lady' then 'female'
        when 'm' then 'male' when 'man' then 'male' when 'guy' then 'male' when 'male' then 'male'
        when 'nb' then 'nonbinary' when 'nonbinary' then 'nonbinary' when 'non-binary' then 'nonbinary'
    end
{%- endmacro %}

{% macro self_disclosed_age(text) -%}
    try_cast({{ _disclosed_part(text, 1) }} as integer)
{%- endmacro %}
