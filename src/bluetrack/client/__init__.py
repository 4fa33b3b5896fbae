"""The BlueTrack desktop client (PySide6): views, workers, and a gateway to the bus."""
