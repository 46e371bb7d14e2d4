"""Random-stream ids: the second number of every ``seeded_generator(seed, STREAM, ...)``.

Every random decision of the library draws from a generator seeded by (user seed, stream id,
position), so one seed drives many independent streams and adding a draw to one stream never
shifts another. The ids are part of what a seed means: changing one changes the batches,
samples or splits an existing seed gives, so they never change once released.
"""

SAMPLER_STREAM = 1
"""The architectures a training step samples (``train/samplers.py``), per step."""
ARCH_STREAM = 2
"""The distinct architectures ``rank`` samples uniformly (``evaluate/scoring.py``)."""
EPOCH_STREAM = 11
"""The image order of each training epoch, shared by the device and streaming loaders."""
AUGMENT_STREAM = 12
"""Crop, flip and cutout of each batch on the device (``data/loader.py``), per step."""
CROP_STREAM = 13
"""Random-resized crops of streamed image files (``data/imagefolder.py``), per step and position."""
SEARCH_STREAM = 21
"""Mutations and crossovers of the evolutionary search (``search/evolution.py``)."""
SPLIT_ORDER_STREAM, SPLIT_SHUFFLE_STREAM = 0x5B17, 0x5F1E
"""The stratified train/held-out split and the order within each part (``data/splits.py``)."""
SYNTHETIC_PATTERNS_STREAM, SYNTHETIC_SAMPLES_STREAM = 0x5EED, 0x5A3E
"""The class patterns and the noisy images of the synthetic dataset (``data/datasets.py``)."""
GROUNDTRUTH_POOL_STREAM = 0x6754
"""The candidate pool the ground-truth builder draws its complexity-stratified sample from."""
