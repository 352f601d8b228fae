"""What keeps deliveries safe: signatures and the network guard."""
