-- Shares on every dimension counted over stigma-related posts, per language the post is written in
-- (ISO 639-1, hinglish, taglish, und).
{{ label_shares_slice('language', ['language'], "dimension <> 'relevance'") }}
