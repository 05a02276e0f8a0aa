select
    {{ reddit_submission_columns('$.') }},
    {{ reddit_observed_at('$.') }},
    {{ provenance_columns() }}
from {{ source('raw', 'reddit_dump') }}
where entity = 'submission'
