"""The load simulator: virtual listeners that use BlueTrack through its real protocol.

``model`` is their behaviour (pure, seeded); ``runner`` sends it through the bus; ``progress``
shows it; ``commands`` adds `bluetrack simulate` and `bluetrack demo`.
"""
