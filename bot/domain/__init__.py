"""What the service does, as plain functions on a database: handle a citizen's message, create
a broadcast. The API, the console, the CLI and the simulator all call these; they know neither
Flask nor Twilio.
"""
