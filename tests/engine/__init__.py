"""An engine-faithful lifecycle harness: `pulumi preview`, `up`, `refresh` and `destroy` of the real program, offline.

    engine.py   Engine: the operations, a checkpoint between them, one dynamic-provider host per operation
    monitor.py  the engine's step generator and executor (what each RegisterResource becomes)
    plugins.py  the providers it calls: dynamic resources through Pulumi's own host, bridged ones by contract
    state.py    the checkpoint and the steps
    alicloud_double.py, kubernetes_double.py
                what pulumi-alicloud and pulumi-kubernetes do in the cloud emulator and the fake Kubernetes API
    world.py    the emulator, the fake API server and the controllers' part, seeded from a stack's configuration
    stacks.py   the example stacks and generated variants the lifecycle tests run

Where the real engine's behaviour comes from: pulumi/pulumi pkg/resource/deploy/step_generator.go, step.go,
step_executor.go and deployment_executor.go, sdk/go/common/resource/plugin/provider_plugin.go, and the
Python dynamic-provider host (pulumi/dynamic/__main__.py of the pinned SDK); each rule is named where it is played.
"""
