"""あんしん発信 (two-leg callback), own-number verification and the 2FA voice call.

* :mod:`.service` - what the web portal calls (register/verify own numbers, request calls,
  poll status, billing records and CSV).
* :mod:`.rules` - pure fraud rules (destination classes, caps) and refusal reasons.
* :mod:`.legs` - pure leg outcome decisions (ARI cause/dialstatus -> result, billing).
* :mod:`.store` - SQL the worker uses (claim, status, legs).
* :mod:`.worker` - the request worker (LISTEN/poll, claim, run the call).
* :mod:`.calls` - the ARI side of the callback and the verification call.
"""
