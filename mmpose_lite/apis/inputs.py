"""Inputs of the inference: an image, a folder of images or a video, checked
before any model is built (:func:`resolve_input`)."""
import mimetypes
import os
import os.path as osp
from typing import Dict, List, NamedTuple

__all__ = ['InferenceInputError', 'ResolvedInput', 'resolve_input']


class InferenceInputError(ValueError):
    """An input path, image, video or box file that cannot be used (the
    message names it and says what to do)."""


class ResolvedInput(NamedTuple):
    """An input path, checked.

    Attributes:
        kind (str): ``'image'``, ``'folder'`` or ``'video'``.
        path (str): The path as given (absolute).
        images (list[str]): The images to run (one for ``'image'``, the
            folder's images sorted by name for ``'folder'``, none for a video).
        frames (int): The video's frame count as its header says (0 if
            unknown); 0 for images.
    """
    kind: str
    path: str
    images: List[str]
    frames: int


def _media_type(path: str) -> str:
    guessed = mimetypes.guess_type(path)[0] or ''
    return guessed.split('/')[0]


def _check_image(path: str) -> None:
    import cv2
    if cv2.imread(path, cv2.IMREAD_COLOR) is None:
        raise InferenceInputError(f'cannot read the image {path}: the file is empty, corrupt or in a format OpenCV '
                                  'cannot decode. Replace or remove it (convert it to JPEG or PNG).')


def resolve_input(path: str) -> ResolvedInput:
    """Check an input path and say what it is, before any model is built.

    A folder's images are the files whose extension names an image type
    (``.jpg``, ``.png``, ...; sub-folders and other files are skipped); every
    one is decoded once here, so an unreadable image stops the run before
    anything is computed or written. A video is opened and its first frame read.

    Args:
        path (str): An image, a folder of images or a video file.

    Returns:
        ResolvedInput: The checked input.

    Raises:
        InferenceInputError: The path is missing, is not an image, folder or
            video, a folder holds no image or two images that would write the
            same output names, or an image or video cannot be decoded (each
            message names the file).
    """
    import cv2
    path = osp.abspath(osp.expanduser(os.fspath(path)))
    if not osp.exists(path):
        raise InferenceInputError(f'the input {path} does not exist; pass an image, a folder of images or a video')
    if osp.isdir(path):
        images = sorted(osp.join(path, n) for n in os.listdir(path)
                        if osp.isfile(osp.join(path, n)) and _media_type(n) == 'image')
        if not images:
            raise InferenceInputError(f'the folder {path} holds no images (files named *.jpg, *.png, *.bmp, ...); '
                                      'sub-folders are not searched')
        stems: Dict[str, str] = {}
        for image in images:
            stem = osp.splitext(osp.basename(image))[0]
            if stem in stems:
                raise InferenceInputError(f'{stems[stem]} and {image} would write the same output files '
                                          f'({stem}.png, {stem}.json); rename one of them')
            stems[stem] = image
        for image in images:
            _check_image(image)
        return ResolvedInput('folder', path, images, 0)
    kind = _media_type(path)
    if kind == 'image':
        _check_image(path)
        return ResolvedInput('image', path, [path], 0)
    if kind == 'video':
        capture = cv2.VideoCapture(path)
        try:
            readable = capture.isOpened() and capture.read()[0]
            frames = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)
        finally:
            capture.release()
        if not readable:
            raise InferenceInputError(f'cannot read the video {path}: OpenCV cannot open it or read its first frame '
                                      '(corrupt, empty, or a codec this OpenCV build lacks); re-encode it, e.g. '
                                      '`ffmpeg -i IN -c:v libx264 OUT.mp4`')
        return ResolvedInput('video', path, [], frames)
    raise InferenceInputError(f'{path} is neither an image nor a video by its extension (images: .jpg, .png, ...; '
                              'videos: .mp4, .avi, ...); pass an image, a folder of images or a video')
