"""placeholder"""
from .seed_server import SeedServer as EchoServer
