select
    {{ reddit_submission_columns('$.data.') }},
    {{ reddit_observed_at('$.data.') }},
    {{ provenance_columns() }}
from {{ source('raw', 'reddit_api') }}
where entity = 'submission'
