"""Platform adapters: translate platform updates into Incoming and send Outgoing. No logic here."""
