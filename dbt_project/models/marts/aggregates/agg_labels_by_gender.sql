-- Shares on every dimension counted over stigma-related posts, by self-disclosed gender ('not disclosed' where
-- the author does not say).
{{ label_shares_slice('self_disclosed_gender', ['self_disclosed_gender'], "dimension <> 'relevance'") }}
