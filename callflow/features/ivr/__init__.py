"""The two voicemail-center IVRs (050-3300-5000 retrieval, 050-3300-5141 PIN change).

Layout: `model` (actions the machines ask for, events fed back), `prompter` (the shared DTMF
input machinery: ask, re-prompt on timeout/garbage, give up), `auth` (the shared "authenticate
a mailbox" step), `retrieval` and `pin_change` (pure state machines), `driver` (the thin ARI
layer that performs actions and feeds events back) and `jobs` (168 h expiry).
"""
