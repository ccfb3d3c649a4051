"""A local emulator of Alibaba Cloud RPC APIs that the official SDK clients talk to unchanged.

    from tests.emulator import Emulator, Ens, Nlb, Slb

    with Emulator([Ens(create_polls=2), Nlb(), Slb()]) as emu:   # ENS alone by default: Emulator()
        client = Client(Config(access_key_id="ak", access_key_secret="sk", region_id="cn-hangzhou",
                               endpoint=emu.endpoint, protocol="http"))
        emu.ens.instances["i-node1"] = "Running"
        emu.inject("AddBackendServers", "Throttling.User", times=1, after=2)

server.py: the HTTP server, credentials, faults, rate limits, call counting (and what the SDK does with errors).
product.py: ApiError, Params and Product, what a product module (ens.py, nlb.py, slb.py) builds on.
"""

from .ens import Ens
from .nlb import Nlb
from .product import ApiError, Params, Product
from .server import Call, Emulator, FakeClock, Fault
from .slb import Slb

__all__ = ["ApiError", "Call", "Emulator", "Ens", "FakeClock", "Fault", "Nlb", "Params", "Product", "Slb"]
