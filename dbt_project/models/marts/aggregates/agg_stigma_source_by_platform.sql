-- Who holds the stigma that stigma-related posts describe, per platform.
{{ label_shares_slice('platform', ['platform'], "dimension = 'stigma_source'") }}
