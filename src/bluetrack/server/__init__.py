"""The BlueTrack server: accounts, sessions, song shelves and play verification over Kafka.

``service.ServerService`` turns one request into replies with no broker in sight;
``plays.PlayVerifier`` does the same for batches of play events; ``runner`` wires both to
Kafka consumers, a worker pool and MongoDB.
"""
