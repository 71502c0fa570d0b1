from .detections import Detections
from .lvis_engines import evaluate_lvis
from .lvis_evaluation import LVISEvaluator
from .pooled_ap import pooled_ap
from .sem_seg import LongTailSemSegEvaluator, binned_miou, class_bins
