# A GAN trained with two optimizers (mmagic's MultiOptimWrapperConstructor): Adam for the
# generator and the discriminator, each with its own lr, and a linear decay of each lr
# after warm steps of its own.
total_iters = 100000

optim_wrapper = dict(
    constructor="MultiOptimWrapperConstructor",
    generator=dict(
        type="OptimWrapper",
        optimizer=dict(type="Adam", lr=1e-4, betas=(0.0, 0.99), eps=1e-8),
    ),
    discriminator=dict(
        type="OptimWrapper",
        optimizer=dict(type="Adam", lr=4e-4, betas=(0.0, 0.99), eps=1e-8),
    ),
)
param_scheduler = dict(
    generator=[
        dict(type="ConstantLR", factor=1.0, by_epoch=False, end=50000),
        dict(type="LinearLR", start_factor=1.0, end_factor=0.0, by_epoch=False, begin=50000),
    ],
    discriminator=[
        dict(type="LinearLR", start_factor=1.0, end_factor=0.0, by_epoch=False, begin=0),
    ],
)
train_cfg = dict(by_epoch=False, max_iters=total_iters)
default_hooks = dict(checkpoint=dict(type="CheckpointHook", interval=10000))
