# An mmpretrain ViT-B/16 fine-tune with layer-wise lr decay (the MAE/BEiT recipe):
# 8 GPUs x 128 images, 100 epochs, on top of the ImageNet AdamW schedule.
_base_ = ["./mmengine-vit-base-schedule.py"]

batch_size = 128
num_gpus = 8
base_lr = 5e-4

optim_wrapper = dict(
    optimizer=dict(type="AdamW", lr=base_lr * batch_size * num_gpus / 256, weight_decay=0.05),
    constructor="LearningRateDecayOptimWrapperConstructor",
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=0.65,
        custom_keys={
            ".ln": dict(decay_mult=0.0),
            ".bias": dict(decay_mult=0.0),
            ".cls_token": dict(decay_mult=0.0),
            ".pos_embed": dict(decay_mult=0.0),
        },
    ),
    clip_grad=dict(max_norm=5.0),
)

param_scheduler = [
    dict(
        type="LinearLR",
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True,
    ),
    dict(
        type="CosineAnnealingLR",
        T_max=95,
        by_epoch=True,
        begin=5,
        end=100,
        eta_min=1e-6,
        convert_to_iter_based=True,
    ),
]

train_cfg = dict(by_epoch=True, max_epochs=100)
default_hooks = dict(checkpoint=dict(type="CheckpointHook", interval=1, max_keep_ckpts=3))
