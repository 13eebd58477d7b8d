"""Session Manager: StartTerminalSession and its siblings, the websocket each session is reached on, and the agent's
session behaviour (a terminal inside the instance). The client's frames are those of ali-instance-cli
(agent/session/plugin/ in the Cloud Assistant agent's source); the server side of the real service is not public,
so what it decides (URL, token, the status sent at the end) is marked ⚠ where it is chosen here."""
