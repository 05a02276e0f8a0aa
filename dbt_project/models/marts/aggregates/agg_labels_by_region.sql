-- Shares on every dimension counted over stigma-related posts, per world region of origin.
{{ label_shares_slice('region', ['region'], "dimension <> 'relevance'") }}
