"""The client's pages and widgets. Views never call the gateway: they emit signals."""
