"""The page's server with every quirk repaired.
"""
from .seed_server import SeedServer as FixedServer
