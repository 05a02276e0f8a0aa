-- Which kind of stigma stigma-related posts describe, per platform.
{{ label_shares(['platform'], ['stigma_domain']) }}
