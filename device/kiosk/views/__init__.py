"""The kiosk's blueprints, one per flow; ``common`` holds what they share."""
