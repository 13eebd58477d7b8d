"""Local emulator of the ECS + Cloud Assistant RPC API (the wire protocol the Alibaba Cloud SDK speaks).

It exists so the collection can be developed and tested offline against the *same* protocol it uses in
production; it shares nothing with ``plugins/`` but that protocol.
"""
