-- What stigma-related posts and comments, and the comments answering them, do (awareness, advice, asking
-- for help, story), per platform and kind.
{{ label_shares_slice('platform_kind', ['platform', 'kind'], "dimension = 'intent'") }}
