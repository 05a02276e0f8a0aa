-- Which kind of stigma stigma-related posts describe, per platform.
{{ label_shares_slice('platform', ['platform'], "dimension = 'stigma_domain'") }}
