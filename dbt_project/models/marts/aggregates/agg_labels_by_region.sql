-- Stigma domain and intent per world region of origin.
{{ label_shares(['region'], ['stigma_domain', 'intent']) }}
