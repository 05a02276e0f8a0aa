-- Stigma domain and intent by self-disclosed gender ('not disclosed' where the author does not say).
{{ label_shares({'self_disclosed_gender': "coalesce(self_disclosed_gender, 'not disclosed')"}, ['stigma_domain', 'intent']) }}
