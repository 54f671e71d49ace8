"""The errors a data set gives when its files are missing or unsound, and
what to do about them (used by :mod:`.checked` and :mod:`.validation`)."""
from typing import Optional

__all__ = ['DataError', 'MissingDataError', 'AnnotationError', 'CorruptImageError', 'HELP', 'REFETCH']

HELP = {
    'COCO': ('To try mmpose_lite without COCO, run the demo from the repository root:\n'
             '    bash tools/demo.sh\n'
             'It generates the embedded synthetic COCO-keypoint data and trains X-HRNet on it.\n'
             'To train on COCO 2017, put train2017/, val2017/, annotations/person_keypoints_{train,val}2017.json\n'
             'and person_detection_results/COCO_val2017_detections_AP_H_56_person.json under data/coco/\n'
             "(see README.md, 'Training on real COCO'), or point data_root/ann_file/bbox_file of the\n"
             'config at your copy.'),
}

#: What to do about a damaged file of a data set (appended to the messages).
REFETCH = ('Re-download it (COCO: https://cocodataset.org/#download), or regenerate it if it was generated '
           '(synthetic data: python -m mmpose_lite.datasets.synthetic DIR).')

#: How many faulty entries a message lists before it says how many more.
MAX_LISTED = 10


class DataError(SystemExit):
    """A data set's file is missing or unusable: ends the run with the message.

    A :class:`SystemExit`, so a training script stops with the message (exit
    status 1) and no traceback; it also passes through MMEngine's registry,
    which re-wraps ordinary exceptions.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class MissingDataError(DataError):
    """Raised when a dataset's files (annotation file, image folder,
    ``bbox_file``) are missing."""


class AnnotationError(DataError):
    """Raised when an annotation or detection file, or the images it names,
    cannot be used: the message names the file, the entry and what to do."""


class CorruptImageError(RuntimeError):
    """Raised when an image of the data set fails to load mid-run: names the
    file and what is wrong with it (missing, empty, not an image, truncated,
    undecodable).

    An ordinary exception, not a :class:`DataError`, because DataLoader
    worker processes pass on only exceptions (the main process re-raises it
    with the worker's traceback in front of this message). :meth:`as_exit`
    gives the :class:`DataError` that ends a run with the message alone.

    Attributes:
        path (str): The image file (None after a DataLoader worker passed it on).
        message (str): The explanation, without a worker's traceback.
    """

    def __init__(self, message: str, path: Optional[str] = None):
        super().__init__(message)
        self.path = path
        # a DataLoader worker's copy arrives as "Caught CorruptImageError in
        # DataLoader worker ... Original Traceback ...: <message>"
        self.message = message.rpartition(f'{type(self).__name__}: ')[2].rstrip() \
            if message.startswith('Caught ') else message

    def as_exit(self) -> AnnotationError:
        """The same message as a :class:`DataError` (a clean exit)."""
        return AnnotationError(self.message)
