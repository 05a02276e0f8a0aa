-- Who holds the stigma that stigma-related posts describe, per age band their writers state ('not disclosed'
-- where they do not say).
{{ label_shares_slice('self_disclosed_age_band', ['self_disclosed_age_band'], "dimension = 'stigma_source'") }}
