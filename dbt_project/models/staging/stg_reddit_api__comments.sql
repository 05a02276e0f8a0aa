select
    {{ reddit_comment_columns('$.data.') }},
    {{ reddit_observed_at('$.data.') }},
    {{ provenance_columns() }}
from {{ source('raw', 'reddit_api') }}
where entity = 'comment'
