"""Column names of the detection task's features: one row per image."""

__all__ = ["BOXES", "FILE_NAME", "IMAGE", "IMAGE_ID", "LABELS"]

#: Columns of :attr:`Dataset.features`. :data:`IMAGE` holds a uint8 array
#: ``[height, width, 3]`` (RGB); :data:`BOXES` a float32 array ``[n, 4]`` of
#: ``x1, y1, x2, y2`` in pixels; :data:`LABELS` an int64 array ``[n]`` of
#: labels ``1..C`` (0 is the background and never used); :data:`IMAGE_ID`
#: the image's id (``int``); :data:`FILE_NAME` its file name (``str``).
IMAGE, BOXES, LABELS, IMAGE_ID, FILE_NAME = "image", "boxes", "labels", "image_id", "file_name"
